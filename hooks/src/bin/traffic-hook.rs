//! `traffic-hook`: a CodeDeploy lifecycle hook Lambda with the built-in kinds of check,
//! and its terminal commands. All logic lives in the `traffic_hooks` library.

fn main() -> std::process::ExitCode {
    traffic_hooks::main(traffic_hooks::Kinds::builtin())
}
