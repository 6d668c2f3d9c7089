// Generic #[effect] fns with where clauses, visibility, doc comments and other attributes.
use effect::prelude::*;
use std::fmt::Display;

/// Renders anything displayable, after binding it.
#[effect]
#[inline]
pub fn render<T>(value: T) -> Effect<String, String>
where
    T: Display + Send + 'static,
{
    let value = succeed(value)?;
    format!("<{value}>")
}

#[effect]
pub(crate) fn pair<A: Clone + Send + 'static, B: Send + 'static>(a: A, b: B) -> Effect<(A, A, B), String> {
    (a.clone(), a, b)
}

#[effect]
fn with_impl_trait(items: impl IntoIterator<Item = u32> + Send + 'static) -> Effect<u32, String> {
    items.into_iter().sum::<u32>()
}

fn main() {
    let _ = effect::run_blocking(render(5).zip(pair(1, "b")).zip(with_impl_trait(vec![1, 2])));
}
