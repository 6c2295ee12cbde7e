//! The stock guests, compiled into this binary by `build.rs` from
//! `guests/dist/` (made by `scripts/build-guests.sh`).

include!(concat!(env!("OUT_DIR"), "/stock_guests.rs"));

/// A stock guest's component, if this binary carries it.
pub fn component(name: &str) -> Option<&'static [u8]> {
    STOCK_GUESTS.iter().find(|(n, _)| *n == name).map(|(_, bytes)| *bytes)
}

/// The names of the stock guests this binary carries.
pub fn names() -> Vec<&'static str> {
    STOCK_GUESTS.iter().map(|(n, _)| *n).collect()
}
