//! The `tern` command line.

mod cli;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tern", version, about = "An async runtime with a built-in BitNet b1.58 inference executor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a runtime workload (fan-out, spawn chains, yields) and prints
    /// throughput and per-worker scheduler counters.
    Demo {
        /// Worker threads (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Tasks in the fan-out phase.
        #[arg(long, default_value_t = 1_000_000)]
        tasks: u64,
    },
    /// Generates text from a prompt, streamed to stdout; prefill and decode speeds
    /// on stderr.
    Generate(cli::generate::GenerateArgs),
    /// Prints the perplexity of a model on a text file.
    Eval(cli::eval::EvalArgs),
    /// Serves the OpenAI completions and chat API over HTTP.
    Serve(cli::serve::ServeArgs),
    /// Writes a BitNet b1.58 model with random ternary weights as real I2_S GGUF
    /// (for benchmarks and tests; it prints noise). The file is built in memory
    /// first: `2b4t` needs about 2.3 GB of RAM.
    Synth {
        /// `tiny` (2 layers, 128 dim) or `2b4t` (BitNet b1.58 2B4T's shape).
        #[arg(long, default_value = "tiny")]
        shape: String,
        /// Output path.
        #[arg(short, long)]
        output: std::path::PathBuf,
        /// Seed of the random weights (the same seed writes the same bytes).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() {
    match Cli::parse().command {
        Command::Demo { workers, tasks } => cli::demo::demo(workers, tasks),
        Command::Eval(args) => cli::eval::eval(args),
        Command::Generate(args) => cli::generate::generate(args),
        Command::Serve(args) => cli::serve::serve(args),
        Command::Synth { shape, output, seed } => cli::synth::synth(&shape, &output, seed),
    }
}
