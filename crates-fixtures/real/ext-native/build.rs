//! Compiles native/scale.c with the factor from `EXT_NATIVE_SCALE` (default 3)
//! and hands the same factor to the Rust code as `EXT_NATIVE_SCALE_FACTOR`.

const DEFAULT_SCALE: i64 = 3;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=native/scale.c");
    println!("cargo:rerun-if-env-changed=EXT_NATIVE_SCALE");
    let scale = match std::env::var("EXT_NATIVE_SCALE") {
        Ok(text) => text
            .trim()
            .parse::<i64>()
            .expect("EXT_NATIVE_SCALE must be an integer"),
        Err(_) => DEFAULT_SCALE,
    };
    cc::Build::new()
        .file("native/scale.c")
        .define("EXT_NATIVE_SCALE", scale.to_string().as_str())
        .compile("ext_native_scale");
    println!("cargo:rustc-env=EXT_NATIVE_SCALE_FACTOR={scale}");
}
