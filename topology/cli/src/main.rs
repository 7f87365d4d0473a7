//! `ants-topo`: topology files, the emulator, namespaces and pictures. Usually run as
//! `ants topo <command>` (the `ants` CLI hands its `topo` subcommand to this binary).

use clap::{Parser, Subcommand};

use ants_topo_cli as cli;

/// Describe a network once; emulate it, bring it up in namespaces, or draw it.
#[derive(Parser)]
#[command(name = "ants topo", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the topology in the in-process emulator (virtual time, deterministic by seed).
    Emulate(cli::emulate::EmulateArgs),
    /// The multicast demo: a sender reaches every group member exactly once, with the code
    /// loaded hop by hop, link copies versus unicast fan-out, and a picture of the tree.
    Demo(cli::demo::DemoArgs),
    /// Run one shipped capsule's scenario (multicast, reliable-multicast, congestion, anycast,
    /// private-ip) and print its numbers.
    Scenario(cli::scenario::ScenarioArgs),
    /// Write a generated network (campus, hierarchy) as a topology file.
    Generate(cli::generate::GenerateArgs),
    /// Draw the topology (dot, svg or mermaid) without running anything.
    Graph(cli::graph::GraphArgs),
    /// Bring the topology up in Linux network namespaces (needs root).
    Up(cli::netns::UpArgs),
    /// Remove everything `up` made, also after a crash.
    Down(cli::netns::DownArgs),
    /// Run a command inside a node's namespace (with `ANTS_SOCKET` set to its router).
    Exec(cli::netns::ExecArgs),
    /// Show what is up: namespaces, daemons, links.
    Status(cli::netns::StatusArgs),
    /// Write one antsd configuration per host and active node, for real hosts (map each
    /// node to its host with --host NODE=ADDR[:PORT] or --hosts FILE).
    Configs(cli::configs::ConfigsArgs),
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Emulate(a) => cli::emulate::run(a),
        Command::Demo(a) => cli::demo::run(a),
        Command::Scenario(a) => cli::scenario::run(a),
        Command::Generate(a) => cli::generate::run(a),
        Command::Graph(a) => cli::graph::run(a),
        Command::Up(a) => cli::netns::up(a),
        Command::Down(a) => cli::netns::down(a),
        Command::Exec(a) => cli::netns::exec(a),
        Command::Status(a) => cli::netns::status(a),
        Command::Configs(a) => cli::configs::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
