//! Which expressions and statements never finish normally, read from the syntax alone.
//!
//! The body compiler uses this to leave a diverging tail (`panic!(..)`, `return x`,
//! `loop {}` without `break`) as the body's last expression instead of wrapping it in
//! `Ok(..)`, which would make rustc warn about an unreachable call, and to accept a body
//! whose last statement is `return x;` or a `match` whose arms all return. The analysis is
//! conservative: when it cannot tell, it says "may finish", and the body stays well-typed.

use syn::visit::{self, Visit};
use syn::{Block, Expr, Label, Stmt};

/// Macros that never return.
const DIVERGING_MACROS: &[&str] = &["panic", "unreachable", "todo", "unimplemented"];

/// Whether `expr` never produces a value.
pub(crate) fn expr(expr: &Expr) -> bool {
    match expr {
        Expr::Return(_) | Expr::Break(_) | Expr::Continue(_) => true,
        Expr::Macro(node) => macro_diverges(&node.mac),
        Expr::Paren(node) => self::expr(&node.expr),
        Expr::Group(node) => self::expr(&node.expr),
        Expr::Block(node) => block(&node.block),
        Expr::Unsafe(node) => block(&node.block),
        Expr::If(node) => match &node.else_branch {
            Some((_, otherwise)) => block(&node.then_branch) && self::expr(otherwise),
            None => false,
        },
        Expr::Match(node) => node.arms.iter().all(|arm| self::expr(&arm.body)),
        Expr::Loop(node) => !breaks_out(&node.body, node.label.as_ref()),
        Expr::Call(node) => is_exit_path(&node.func),
        _ => false,
    }
}

/// Whether a block's last statement never finishes.
pub(crate) fn block(block: &Block) -> bool {
    block.stmts.last().is_some_and(stmt)
}

/// Whether a statement never finishes (`return x;`, `panic!(..);`, a `match` whose arms all
/// return).
pub(crate) fn stmt(stmt: &Stmt) -> bool {
    match stmt {
        Stmt::Expr(expr, _) => self::expr(expr),
        Stmt::Macro(node) => macro_diverges(&node.mac),
        _ => false,
    }
}

fn macro_diverges(mac: &syn::Macro) -> bool {
    mac.path
        .segments
        .last()
        .is_some_and(|s| DIVERGING_MACROS.iter().any(|name| s.ident == name))
}

/// `std::process::exit(..)` and `abort()`: the common `-> !` calls.
fn is_exit_path(func: &Expr) -> bool {
    let Expr::Path(path) = func else { return false };
    let names: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    matches!(
        names
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        [.., "process", "exit" | "abort"]
    )
}

/// Whether a `break` leaves the loop whose body is `body` (an unlabeled `break` not inside a
/// nested loop, or a `break 'label` naming it). Closures and nested items are other bodies.
fn breaks_out(body: &Block, label: Option<&Label>) -> bool {
    struct Finder<'a> {
        label: Option<&'a Label>,
        depth: usize,
        found: bool,
    }
    impl Finder<'_> {
        fn nested_loop(&mut self, walk: impl FnOnce(&mut Self)) {
            self.depth += 1;
            walk(self);
            self.depth -= 1;
        }
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_expr_break(&mut self, node: &'ast syn::ExprBreak) {
            let ours = match (&node.label, self.label) {
                (None, _) => self.depth == 0,
                (Some(named), Some(label)) => named.ident == label.name.ident,
                (Some(_), None) => false,
            };
            self.found |= ours;
            visit::visit_expr_break(self, node);
        }
        fn visit_expr_loop(&mut self, node: &'ast syn::ExprLoop) {
            self.nested_loop(|f| visit::visit_expr_loop(f, node));
        }
        fn visit_expr_while(&mut self, node: &'ast syn::ExprWhile) {
            self.nested_loop(|f| visit::visit_expr_while(f, node));
        }
        fn visit_expr_for_loop(&mut self, node: &'ast syn::ExprForLoop) {
            self.nested_loop(|f| visit::visit_expr_for_loop(f, node));
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_macro(&mut self, node: &'ast syn::Macro) {
            // A macro could hide a `break` (`tokio::select! { .. => break }`): one that
            // mentions `break` anywhere may leave the loop.
            self.found |= mentions_break(node.tokens.clone());
        }
    }
    let mut finder = Finder {
        label,
        depth: 0,
        found: false,
    };
    finder.visit_block(body);
    finder.found
}

fn mentions_break(tokens: proc_macro2::TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => ident == "break",
        proc_macro2::TokenTree::Group(group) => mentions_break(group.stream()),
        _ => false,
    })
}
