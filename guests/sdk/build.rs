//! The bindings are generated from `wit/` by a macro, and cargo does not see
//! a macro's input files: without this, a changed WIT (a new interface) leaves
//! a stale SDK in an existing build directory.

fn main() {
    println!("cargo:rerun-if-changed=../../wit");
}
