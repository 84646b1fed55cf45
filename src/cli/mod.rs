//! The subcommands of the `tern` binary, one file each.

pub(crate) mod demo;
pub(crate) mod eval;
pub(crate) mod generate;
pub(crate) mod load;
pub(crate) mod model_args;
pub(crate) mod sampling_args;
pub(crate) mod serve;
pub(crate) mod synth;
