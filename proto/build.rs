// Compiles the .proto contracts with protox (a protobuf compiler in Rust), so building
// needs no system `protoc`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["custodian/v1/clip.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
