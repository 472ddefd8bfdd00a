//! Gives healthmon's freed heap back to the system.

/// Returns the free pages of the heap to the kernel. glibc gives back only
/// free memory at the top of the heap by itself; starting or restarting
/// many workers at once leaves free pages in its middle, which would count
/// in healthmon's memory until reused (about 9 MiB after starting 1,500
/// workers). Cheap enough for once a cycle.
pub fn trim() {
    // SAFETY: malloc_trim only walks and releases the allocator's own free
    // lists; it takes no pointers of ours.
    #[cfg(target_env = "gnu")]
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
