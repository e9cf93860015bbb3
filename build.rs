//! Compiles the small C helper for Redis-identical long double arithmetic.
fn main() {
    println!("cargo:rerun-if-changed=csrc/ldouble.c");
    cc::Build::new().file("csrc/ldouble.c").compile("rcldouble");
}
