//! `s9-secrets keygen`: a credentials file with a fresh key pair per profile.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// The credentials file to create (mode 0600; never overwritten).
    #[arg(long)]
    out: PathBuf,
    /// A profile to create; repeat for several.
    #[arg(long = "profile", required = true)]
    profiles: Vec<String>,
}

pub(crate) fn run(args: KeygenArgs) -> anyhow::Result<()> {
    let ids = s9_server::principals::generate_profiles_file(&args.out, &args.profiles)?;
    println!(
        "Created {} (the secret keys are in the file only):",
        args.out.display()
    );
    for (profile, id) in ids {
        println!("  [{profile}] {id}");
    }
    Ok(())
}
