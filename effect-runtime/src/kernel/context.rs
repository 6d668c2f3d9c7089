//! [`Context`]: the typed map of services an effect runs with.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

type ServiceMap =
    HashMap<TypeId, (&'static str, Arc<dyn Any + Send + Sync>), BuildHasherDefault<TypeIdHasher>>;

/// Hashes a `TypeId`, which is a hash already, by keeping it: looking a service up is on the
/// path of every fiber start (the clock), and SipHash there was most of the lookup.
#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    // `TypeId` writes one `u64` today; anything else it may write is still mixed in.
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What a missing service of type `T` is reported with, by [`Context::get`]'s panic and by
/// the defect of [`service`](crate::service).
pub(crate) fn missing_service<T>() -> String {
    format!(
        "service `{}` is not in the context; add it with `Context::with` or provide a layer that builds it",
        std::any::type_name::<T>()
    )
}

/// A typed map of services, keyed by type, that every effect of a run can read.
///
/// A context is a persistent value: cloning it is one reference-count increment, and adding a
/// service makes a new map without changing contexts already handed out (copy on write), so a
/// fiber can never see a service change under it. Services are usually cheap handles
/// (`Clock`, a connection pool behind an `Arc`, ...).
///
/// ```
/// use effect::Context;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Config { retries: u32 }
///
/// let ctx = Context::new().with(Config { retries: 3 });
/// assert_eq!(ctx.get::<Config>(), Config { retries: 3 });
/// assert!(ctx.try_get::<String>().is_none());
/// ```
#[derive(Clone, Default)]
pub struct Context {
    // `None` for the empty context, so `Context::new()` does not allocate.
    services: Option<Arc<ServiceMap>>,
}

impl Context {
    /// An empty context.
    ///
    /// ```
    /// use effect::Context;
    ///
    /// let ctx = Context::new();
    /// assert!(ctx.is_empty());
    /// ```
    pub fn new() -> Self {
        Context { services: None }
    }

    /// This context plus `service` (replacing a service of the same type).
    ///
    /// ```
    /// use effect::Context;
    ///
    /// #[derive(Clone, Debug, PartialEq)]
    /// struct Region(&'static str);
    ///
    /// let ctx = Context::new().with(Region("eu")).with(Region("us")); // replaces
    /// assert_eq!(ctx.get::<Region>(), Region("us"));
    /// assert_eq!(ctx.len(), 1);
    /// ```
    pub fn with<T: Send + Sync + 'static>(mut self, service: T) -> Self {
        self.insert(service);
        self
    }

    /// Adds `service`, replacing a service of the same type. Clones of this context taken
    /// before the call keep seeing the old map.
    ///
    /// ```
    /// use effect::Context;
    ///
    /// let mut ctx = Context::new();
    /// let before = ctx.clone();
    /// ctx.insert(42u32);
    /// assert_eq!(ctx.get::<u32>(), 42);
    /// assert!(!before.contains::<u32>()); // earlier clones are unchanged
    /// ```
    pub fn insert<T: Send + Sync + 'static>(&mut self, service: T) {
        let map = Arc::make_mut(self.services.get_or_insert_with(Default::default));
        map.insert(
            TypeId::of::<T>(),
            (std::any::type_name::<T>(), Arc::new(service)),
        );
    }

    /// Every service of `other` added to this context (`other` wins on a clash).
    ///
    /// ```
    /// use effect::Context;
    ///
    /// let defaults = Context::new().with(3u8).with("default name");
    /// let overrides = Context::new().with("custom name");
    /// let ctx = defaults.merge(&overrides);
    /// assert_eq!((ctx.get::<u8>(), ctx.get::<&str>()), (3, "custom name"));
    /// ```
    pub fn merge(mut self, other: &Context) -> Self {
        let Some(theirs) = &other.services else {
            return self;
        };
        let map = Arc::make_mut(self.services.get_or_insert_with(Default::default));
        for (id, entry) in theirs.iter() {
            map.insert(*id, entry.clone());
        }
        self
    }

    /// A reference to the service of type `T`, if present.
    ///
    /// ```
    /// use effect::Context;
    ///
    /// let ctx = Context::new().with(String::from("token"));
    /// assert_eq!(ctx.try_get::<String>().map(String::as_str), Some("token"));
    /// assert_eq!(ctx.try_get::<u64>(), None);
    /// ```
    pub fn try_get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        let (_, service) = self.services.as_ref()?.get(&TypeId::of::<T>())?;
        service.downcast_ref::<T>()
    }

    /// A clone of the service of type `T`.
    ///
    /// # Panics
    /// When the context has no `T`. Inside an effect that panic becomes a defect
    /// (`Cause::Die`) whose message names the missing service.
    ///
    /// ```
    /// use effect::{run_blocking_with, service, Context};
    ///
    /// #[derive(Clone, Debug, PartialEq)]
    /// struct Database { url: String }
    ///
    /// let ctx = Context::new().with(Database { url: "postgres://db".into() });
    /// assert_eq!(ctx.get::<Database>().url, "postgres://db");
    /// // In an effect, a missing service is a defect naming it.
    /// let missing = run_blocking_with(service::<u64>(), &Context::new()).unwrap_err();
    /// assert!(missing.defects()[0].message().contains("u64"));
    /// ```
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> T {
        match self.try_get::<T>() {
            Some(service) => service.clone(),
            None => panic!("{}", missing_service::<T>()),
        }
    }

    /// Whether the context holds a service of type `T`.
    ///
    /// ```
    /// use effect::Context;
    ///
    /// let ctx = Context::new().with(1.5f64);
    /// assert!(ctx.contains::<f64>() && !ctx.contains::<f32>());
    /// ```
    pub fn contains<T: Send + Sync + 'static>(&self) -> bool {
        self.try_get::<T>().is_some()
    }

    /// The number of services.
    ///
    /// ```
    /// use effect::Context;
    ///
    /// assert_eq!(Context::new().with(1u8).with(2u16).len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.services.as_ref().map_or(0, |m| m.len())
    }

    /// Whether the context holds no service.
    ///
    /// ```
    /// use effect::Context;
    ///
    /// assert!(Context::new().is_empty());
    /// assert!(!Context::new().with(()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self
            .services
            .iter()
            .flat_map(|m| m.values().map(|(name, _)| *name))
            .collect();
        names.sort_unstable();
        f.debug_struct("Context").field("services", &names).finish()
    }
}
