//! Background priority for the threads that load policies (compiling, preparing
//! versions, watching the directory), so that a load never slows requests.

/// Scheduling niceness of background policy work (compiling, preparing versions): a
/// policy loading while the proxy is busy takes longer instead of slowing requests.
/// Compilation, the bulk of it, also runs in the `SCHED_IDLE` class.
const BACKGROUND_NICENESS: i32 = 10;

/// Gives the calling thread background priority (Linux schedules threads
/// individually): niceness 10, and with `idle`, the `SCHED_IDLE` class, which runs only
/// on CPU that nothing else wants. Failure only means the thread keeps its priority.
pub fn lower_priority(idle: bool) {
    // SAFETY: gettid, setpriority and sched_setscheduler have no memory-safety
    // preconditions; on Linux, given a thread id, they affect only that thread.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, BACKGROUND_NICENESS);
        if idle {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param);
        }
    }
}
