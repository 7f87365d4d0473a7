//! `ants topo generate campus|hierarchy`: writes a generated network as a topology file, so
//! that large networks need no code: `ants topo generate campus --edges 300 --hosts 32 > c.toml`.
//!
//! Owns the arguments and their bounds; the networks are `ants_emulator::generate`'s and the
//! file form is `ants_topology::file::to_toml`'s. It never runs anything.

use std::path::PathBuf;
use std::process::ExitCode;

use std::net::Ipv4Addr;

use ants_emulator::generate::{Campus, Hierarchy};
use ants_topology::model::Pool;
use anyhow::{Context as _, bail};

/// Largest network `generate` writes: beyond it the file alone runs to hundreds of megabytes.
pub const MAX_NODES: usize = 2_000_000;
/// Networks up to this many nodes keep the default address pools (10.0.0.0/16 for nodes,
/// 10.1.0.0/16 for links); larger ones get 10.0.0.0/11 and 10.64.0.0/10, room for 2 million
/// nodes and a million links.
const SMALL: usize = 16_000;

/// Arguments of `ants topo generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Which network.
    #[command(subcommand)]
    pub network: Network,
    /// The network's name [default: campus or hierarchy].
    #[arg(long, global = true)]
    pub name: Option<String>,
    /// The emulator seed written in the file.
    #[arg(long, default_value_t = 1, global = true)]
    pub seed: u64,
    /// Write the file here instead of to standard output.
    #[arg(long, short, value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,
}

/// The generated networks.
#[derive(Debug, clap::Subcommand)]
pub enum Network {
    /// A ring of legacy core routers; active edge routers hang off it (edge e off core router
    /// e % core), each with its hosts. Links: core 2 ms, uplinks 1 ms, access 0.5 ms.
    Campus {
        /// Active edge routers.
        #[arg(long)]
        edges: usize,
        /// Hosts per edge router.
        #[arg(long)]
        hosts: usize,
        /// Legacy core routers.
        #[arg(long, default_value_t = 4)]
        core: usize,
    },
    /// The multicast hierarchy: a source behind a legacy core ring, active aggregation routers,
    /// active edges with member hosts (group `members`) and other hosts.
    Hierarchy {
        /// Legacy core routers.
        #[arg(long, default_value_t = 4)]
        core: usize,
        /// Active aggregation routers.
        #[arg(long, default_value_t = 5)]
        aggregations: usize,
        /// Active edge routers per aggregation router.
        #[arg(long, default_value_t = 10)]
        edges: usize,
        /// Member hosts per edge router.
        #[arg(long, default_value_t = 10)]
        members: usize,
        /// Other hosts per edge router.
        #[arg(long, default_value_t = 9)]
        others: usize,
    },
}

/// Runs the command.
pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let (builder, nodes, what) = match args.network {
        Network::Campus { edges, hosts, core } => {
            if edges == 0 {
                bail!("--edges 0: a campus needs at least one edge router");
            }
            let c = Campus::new(edges, hosts, core);
            let name = args.name.as_deref().unwrap_or("campus");
            check_size(c.node_count())?;
            (
                c.build(name, args.seed),
                c.node_count(),
                format!(
                    "campus: {edges} active edges with {hosts} hosts each, {core} legacy core routers"
                ),
            )
        }
        Network::Hierarchy {
            core,
            aggregations,
            edges,
            members,
            others,
        } => {
            if aggregations == 0 || edges == 0 {
                bail!(
                    "a hierarchy needs at least one aggregation router and one edge per aggregation"
                );
            }
            let h = Hierarchy {
                core: core.max(1),
                aggregations,
                edges_per_aggregation: edges,
                members_per_edge: members,
                others_per_edge: others,
            };
            check_size(h.node_count())?;
            let name = args.name.as_deref().unwrap_or("hierarchy");
            (
                h.build(name, args.seed),
                h.node_count(),
                format!(
                    "hierarchy: {aggregations} aggregation routers with {edges} edges each, {members} members and {others} other hosts per edge, {core} legacy core routers; source `{}`, group `{}`",
                    Hierarchy::SOURCE,
                    Hierarchy::MEMBERS
                ),
            )
        }
    };
    let mut builder = builder;
    if nodes > SMALL {
        // The default pools hold 65,536 node addresses and 16,384 link subnets.
        builder
            .node_pool(Pool {
                network: Ipv4Addr::new(10, 0, 0, 0),
                len: 11,
            })
            .link_pool(Pool {
                network: Ipv4Addr::new(10, 64, 0, 0),
                len: 10,
            });
    }
    let topology = builder
        .build()
        .context("the generated network is invalid")?;
    let header = format!("{nodes} nodes, {} links", topology.links.len());
    let text = ants_topology::file::to_toml(
        &topology,
        &[
            &format!("Written by `ants topo generate`: {what}."),
            &header,
        ],
    );
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn check_size(nodes: usize) -> anyhow::Result<()> {
    if nodes > MAX_NODES {
        bail!("{nodes} nodes: `generate` writes networks of at most {MAX_NODES} nodes");
    }
    Ok(())
}
