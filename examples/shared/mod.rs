//! What the guide's examples share: its `fetch_data` service call.
#![allow(dead_code)]

use std::time::Duration;

use effect::prelude::*;

/// What a service returns: `{"service": name, "data": "Data from name"}` in the guide.
#[derive(Clone, Debug, PartialEq)]
pub struct Data {
    pub service: String,
    pub data: String,
}

impl Data {
    pub fn new(service: &str, data: &str) -> Self {
        Data {
            service: service.to_string(),
            data: data.to_string(),
        }
    }
}

/// The guide's `fetch_data`: waits `delay`, fails with "{name} timeout" when slower than
/// half a second, otherwise returns data from the service.
#[effect]
pub fn fetch_data(name: &'static str, delay: Duration) -> Effect<Data, String> {
    sleep(delay)?;
    if delay > ms(500) {
        fail(format!("{name} timeout"))?;
    }
    Data::new(name, &format!("Data from {name}"))
}
