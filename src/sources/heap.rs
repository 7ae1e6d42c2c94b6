//! Tuning of the C allocator the process runs on (glibc malloc on Linux; a
//! no-op elsewhere).
//!
//! glibc gives each thread that allocates concurrently an arena of its own,
//! up to eight per core, and memory freed in one arena is reused only by
//! allocations served from it. An investigation builds its simulator on one
//! thread and then answers tool calls on the runtime's worker threads, so
//! with an arena per thread the workers' arenas grow on top of the memory
//! the setup freed: at 1,000 simulated services the peak resident size was
//! about 650 MB with the default, 565 MB with two arenas and 480 MB with
//! one, for the same CPU time (the threads do little but allocate-heavy
//! evaluation, and never many at once on a small machine).

/// Arenas glibc malloc may create (`M_ARENA_MAX`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENA_MAX: i32 = 1;

/// Allocations from this size up get pages of their own (`M_MMAP_THRESHOLD`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 256 << 10;

/// Caps malloc's arenas (not for `serve`, which runs many investigations at
/// once). Call first thing in `main`, before other threads
/// start: arenas already made are kept.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of the allocator; M_ARENA_MAX takes
    // any positive count, and it is called before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
        // A fixed threshold: big buffers (query results, series blocks) are
        // mapped and unmapped on their own, so freeing one gives it back at
        // once instead of raising the dynamic threshold and keeping it.
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Returns free memory at the top of and inside malloc's heaps to the
/// system, after a phase that freed much (the simulator's model once its
/// telemetry is rendered). Cheap next to that phase, and it changes nothing
/// but the resident size.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the padding to leave at the top and only
    // walks malloc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
