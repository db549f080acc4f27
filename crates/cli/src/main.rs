//! `funnel`: the command-line face of the Funnel recommender engine.
//!
//! Exit codes: 0 success, 1 a run-time error (bad data, unknown id, bad model file),
//! 2 a usage error (unknown flag or missing argument).

mod data_args;
mod data_cmd;
mod eval_cmd;
mod metrics_cmd;
mod model_cmd;
mod progress;
mod rank_cmd;
mod serve_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "funnel",
    version,
    about = "Funnel: recall → ranking → re-ranking, trained and evaluated in one program"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The main job on built-in synthetic data: fit recall models and print their metrics.
    Demo {
        /// Write the metrics as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Fit a recall model and evaluate it by full ranking.
    Eval(eval_cmd::EvalArgs),
    /// AUC/GAUC/LogLoss of a score file, or top-K metrics of ranked lists.
    Metrics(metrics_cmd::MetricsArgs),
    /// Inspect or generate data.
    #[command(subcommand)]
    Data(data_cmd::DataCmd),
    /// Recommend for a user from a saved model.
    Recommend(model_cmd::RecommendArgs),
    /// Items similar to an item, from a saved model.
    Similar(model_cmd::SimilarArgs),
    /// List the named parameter presets.
    Presets,
    /// List every model of each stage with its parameters and their defaults.
    Models {
        /// Write the list as JSON here (`-` for standard output) instead of text.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The ranking stage: train, evaluate and apply click-probability models.
    #[command(subcommand)]
    Rank(rank_cmd::RankCmd),
    /// The recommendation service: HTTP/JSON API over the embedded store (or PostgreSQL),
    /// recall → rank → re-rank per request, learning from feedback as it arrives.
    Serve(serve_cmd::ServeArgs),
}

fn main() -> ExitCode {
    funnel_train::alloc::retain_freed_buffers();
    let cli = Cli::parse();
    let r = match &cli.cmd {
        Cmd::Demo { json } => eval_cmd::demo(json.as_ref()),
        Cmd::Eval(a) => eval_cmd::run(a),
        Cmd::Metrics(a) => metrics_cmd::run(a),
        Cmd::Data(c) => data_cmd::run(c),
        Cmd::Recommend(a) => model_cmd::recommend(a),
        Cmd::Similar(a) => model_cmd::similar(a),
        Cmd::Rank(c) => rank_cmd::run(c),
        Cmd::Serve(a) => serve_cmd::run(a),
        Cmd::Models { json } => model_cmd::models(json.as_deref()),
        Cmd::Presets => {
            for p in funnel_recall::presets::list() {
                println!("{p}");
            }
            Ok(())
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`funnel … | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}
