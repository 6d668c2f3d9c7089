//! Where panics happen: a panic hook that records the location of each panic on its thread,
//! so the defect made from the caught payload ([`Defect::from_panic`](crate::Defect::from_panic))
//! can say where it came from. `catch_unwind` hands over only the payload.
//!
//! The hook is installed once per process, the first time an effect runs, and chains to the
//! hook that was there before: that hook still runs for every panic (the default one prints
//! it), and panics outside effects are unaffected but for one thread-local write. A hook set
//! later replaces ours; defects then carry no location, and nothing else changes.

use std::cell::RefCell;
use std::sync::{Arc, Once};

thread_local! {
    /// The location of the last panic on this thread that no defect has taken yet.
    static LAST: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Installs the recording hook, once per process.
pub(crate) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // `take_hook`/`set_hook` panic when called while this thread panics: not the case
        // here, as effects start from ordinary code.
        if std::thread::panicking() {
            return;
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(location) = info.location() {
                let location: Arc<str> = location.to_string().into();
                // `try_with`: a panic while this thread's locals are being destroyed.
                let _ = LAST.try_with(|last| {
                    if let Ok(mut last) = last.try_borrow_mut() {
                        *last = Some(location);
                    }
                });
            }
            previous(info);
        }));
    });
}

/// The location of the panic just caught on this thread, taken so that it is never given to
/// a later defect.
pub(crate) fn take() -> Option<Arc<str>> {
    LAST.try_with(|last| last.try_borrow_mut().ok()?.take())
        .ok()
        .flatten()
}
