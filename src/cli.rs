//! Command-line types (clap). Commands turn these into settings once, in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "termscore",
    version,
    about = "Reads contracts and tells the person about to sign them what they are giving away",
    long_about = "Reads contracts (PDF, DOCX, HTML, Markdown, text), splits them into clauses, labels \
                  every clause with a transformer classifier, scores the contract for one side and \
                  shows the evidence.\n\nData goes to stdout; progress, warnings and errors go to \
                  stderr. Exit codes: 0 success, 1 a score fell below --fail-under, 2 error."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log detail on stderr: -v explains decisions (threads, batches, model source), -vv traces
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour in terminal output (NO_COLOR is honoured by `auto`)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Split a contract file into clauses and print them
    Segment(SegmentArgs),
    /// Inspect the encoder model
    #[command(subcommand)]
    Model(ModelCommand),
    /// Print sentence embeddings of texts (JSONL with "text", or plain lines) as JSONL
    Embed(EmbedArgs),
    /// Run the encoder over labelled files and store its outputs for training (resumable)
    Cache(CacheArgs),
    /// Train a clause classifier on labelled JSONL files
    Train(TrainArgs),
    /// Evaluate a classifier on a labelled JSONL file: per-label precision, recall, F1
    Eval(EvalArgs),
    /// Label clause texts (JSONL with "text", or plain lines) and print one JSON line each
    Classify(ClassifyArgs),
    /// Score contracts for one side: red flags with evidence, missing protections, fixes
    Score(ScoreArgs),
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Contract files (PDF, DOCX, HTML, Markdown, text); each is scored on its own
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Whose risk to score: the provider delivers work or grants rights, the client receives them
    #[arg(long, value_enum, default_value_t = SideArg::Provider)]
    pub side: SideArg,
    #[arg(long, value_enum, default_value_t = ScoreFormat::Text)]
    pub format: ScoreFormat,
    /// Write the report here instead of stdout (with several files: a folder, one report each)
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Exit with 1 when a file scores below this (0-100), to gate a pipeline
    #[arg(long, value_name = "SCORE", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub fail_under: Option<u32>,
    #[command(flatten)]
    pub classifier: ClassifierArgs,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SideArg {
    Provider,
    Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScoreFormat {
    Text,
    Json,
    Markdown,
    Html,
}

#[derive(Debug, Args)]
pub struct ClassifierArgs {
    /// Classifier folder [default: the shipped models/termscore-clauses]
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Encoder worker threads (0 = all cores, or RAYON_NUM_THREADS when set)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
    /// Encoder weights at run time: int8 quantises its dense layers
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub precision: PrecisionArg,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Labelled training files: JSONL {"text": ..., "labels": [...]}; each file trains the
    /// labels it uses and says nothing about the others
    #[arg(long = "data", required = true, num_args = 1.., value_name = "FILE")]
    pub data: Vec<PathBuf>,
    /// Labelled dev files for early stopping and threshold tuning
    #[arg(long = "dev", num_args = 1.., value_name = "FILE")]
    pub dev: Vec<PathBuf>,
    /// Output folder for the model, its metrics and model card
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seed for initialisation and shuffling (a seed fixes the result)
    #[arg(long, default_value_t = 17)]
    pub seed: u64,
    /// Continue from an existing classifier instead of starting fresh
    #[arg(long, value_name = "DIR")]
    pub init: Option<PathBuf>,
    /// Most epochs (training stops earlier when dev macro-F1 stops improving)
    #[arg(long, default_value_t = 12)]
    pub epochs: usize,
    /// Epochs without dev improvement before stopping
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    /// Learning rate
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Decoupled weight decay (AdamW)
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Size of the label-attention projection
    #[arg(long, default_value_t = 128)]
    pub attn_dim: usize,
    /// Inverse regularisation strength of the lexical (TF-IDF) logistic regression
    #[arg(long = "lexical-c", default_value_t = 16.0, value_name = "C")]
    pub lexical_c: f64,
    /// Length of the mean-pooled embedding among the linear model's inputs, next to the
    /// unit-length TF-IDF vector (0: TF-IDF terms only)
    #[arg(long, default_value_t = 0.0, value_name = "SCALE")]
    pub dense_scale: f32,
    /// Which models to train and mix: both, or one alone (to measure what each adds)
    #[arg(long, value_enum, default_value_t = ComponentsArg::Both)]
    pub components: ComponentsArg,
    /// Fine-tune the encoder's top N layers under the head, over cached outputs of the
    /// layers below (0: the encoder stays frozen). Continuing from a model with tuned
    /// layers keeps its number
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub tune_layers: usize,
    /// Learning rate of the tuned encoder layers
    #[arg(long, default_value_t = 5e-5)]
    pub tune_lr: f64,
    /// Cache folder for encoder outputs
    #[arg(long, default_value = ".cache/states", value_name = "DIR")]
    pub cache: PathBuf,
    /// Encoder to train on (folder or hf:ID) [default: TERMSCORE_MODEL, else bundled]
    #[arg(long, value_name = "DIR|hf:ID")]
    pub encoder: Option<String>,
    /// Encoder worker threads (0 = all cores)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Labelled JSONL file to evaluate on
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    #[command(flatten)]
    pub classifier: ClassifierArgs,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Cache folder for encoder outputs (reused across runs)
    #[arg(long, default_value = ".cache/states", value_name = "DIR")]
    pub cache: PathBuf,
    /// Also append the results as a Markdown section with this title to the model's
    /// card (README.md in the model folder)
    #[arg(long, value_name = "TITLE")]
    pub card: Option<String>,
    /// Score only labels with at least N positives in the file (the others are listed
    /// as left out); a label with one or two test positives makes macro-F1 jump by
    /// whole points on a single clause
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub min_support: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ComponentsArg {
    Both,
    Lexical,
    Head,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Input: JSONL objects with "text", or plain lines; `-` or nothing reads stdin
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub classifier: ClassifierArgs,
    #[arg(long, value_enum, default_value_t = ClassifyFormat::Jsonl)]
    pub format: ClassifyFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClassifyFormat {
    Text,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// JSONL files with "text" (or plain lines)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Cache folder for encoder outputs
    #[arg(long, default_value = ".cache/states", value_name = "DIR")]
    pub cache: PathBuf,
    /// Store the input of the top N layers, what `train --tune-layers N` reads (0: the
    /// last layer's output, what a model with a frozen encoder reads)
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub tune_layers: usize,
    #[command(flatten)]
    pub encoder: EncoderArgs,
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Largest input file accepted, in bytes
    #[arg(long, default_value_t = termscore::read::DEFAULT_MAX_BYTES, value_name = "BYTES")]
    pub max_bytes: u64,
}

#[derive(Debug, Args)]
pub struct SegmentArgs {
    /// The contract: PDF, DOCX, HTML, Markdown or plain text (format detected from content)
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t = SegmentFormat::Text)]
    pub format: SegmentFormat,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SegmentFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct EncoderArgs {
    /// Encoder: a folder with config.json, tokenizer.json and model.safetensors, or
    /// hf:ORG/NAME[@REVISION] from the Hugging Face cache [default: TERMSCORE_MODEL, else
    /// the bundled all-MiniLM-L6-v2]
    #[arg(long, value_name = "DIR|hf:ID")]
    pub model: Option<String>,
    /// Worker threads for the encoder (0 = all cores, or RAYON_NUM_THREADS when set)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
    /// Weights at run time: int8 quantises the dense layers
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub precision: PrecisionArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    F32,
    Int8,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Print which encoder is loaded, from where, its size, dtype and revision
    Info(ModelInfoArgs),
}

#[derive(Debug, Args)]
pub struct ModelInfoArgs {
    #[command(flatten)]
    pub encoder: EncoderArgs,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Input file (JSONL objects with "text", or plain lines); `-` or nothing for stdin
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub encoder: EncoderArgs,
    /// Do not L2-normalise the embeddings
    #[arg(long)]
    pub no_normalize: bool,
}

/// Sets up `tracing` on stderr: warnings by default, more with -v, or RUST_LOG.
pub fn init_logging(global: &GlobalArgs) {
    let level = match global.verbose {
        0 => "termscore=warn,error",
        1 => "termscore=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
