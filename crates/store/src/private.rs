//! Files and directories only the service's own user may read: mode 0600 and 0700 on Unix,
//! whatever the umask and whatever directory they are created in.

use std::fs;
use std::io::Write as _;
use std::path::Path;

/// Options that create a file with mode 0600 (add `write`/`append` and `create_new`).
pub fn private_file_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Creates `path` and any missing parents with mode 0700 (existing ones are left as they
/// are).
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Creates `path` with mode 0600 (failing if it exists), writes `bytes` and fsyncs the
/// file and its directory.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = private_file_options()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    // A bare file name's parent is "": the directory to sync is the current one.
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::File::open(dir)?.sync_all()
}
