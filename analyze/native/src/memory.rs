//! How the analysis' process gives memory back.
//!
//! glibc's malloc serves a block over its mmap threshold (128 KiB) with its own mapping, given
//! back to the system when freed; but each such block freed raises the threshold to its size
//! (up to 32 MiB), so the next chunk's columns of a few MiB come from the heap instead, where
//! freed blocks stay mapped and fragment. Over a 3M-line highcard analysis that kept the peak
//! RSS ~15% higher (1.32-1.37 GB against 1.13-1.14 GB with the threshold fixed, for +1-2% of
//! CPU in system time: docs/BENCHMARKS.md). Setting the threshold turns the raising off.

/// Keep every block over 128 KiB in its own mapping, for the whole process (the analyzer's:
/// the core is only loaded there).
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc parameter; any value is accepted or refused.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
