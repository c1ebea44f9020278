//! `custom-check-hook`: `traffic-hook` plus the `configuration` kind: Lambda mode,
//! `validate` and `run`, with every built-in kind and ours.

use custom_check::Configuration;
use traffic_hooks::Kinds;

fn main() -> std::process::ExitCode {
    traffic_hooks::main(Kinds::builtin().with::<Configuration>())
}
