//! A closed stdout or stderr ends oailb quietly, the way it ends `cat`:
//! `oailb plan --json | head -1` exits with 141 (128 + SIGPIPE, what a shell
//! reports for `cat` in the same place) and prints nothing more, whatever
//! the command, the format, or the thread that was writing.
//!
//! Rust starts programs with SIGPIPE ignored, so a write to a pipe whose
//! reader has gone fails with EPIPE and `println!` panics (exit 101).
//! Restoring the default action at start-up would fix that, but would also
//! kill oailb when Azure (or a proxy) resets a connection: the HTTP client
//! writes with `writev`, which raises SIGPIPE on a socket too (only `send`
//! can suppress it). So SIGPIPE gets a handler instead, which ends the
//! process only when stdout or stderr is the broken pipe; for a socket it
//! returns, and the write fails with EPIPE as before, which the client
//! retries as a dropped connection.

/// Installs the handler; call it first thing in `main`.
#[cfg(unix)]
pub fn install() {
    // SAFETY: the handler only calls poll(2) and _exit(2), both
    // async-signal-safe; `action` is fully initialised before use.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigpipe as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGPIPE, &action, std::ptr::null_mut());
    }
}

/// Other platforms have no SIGPIPE (a closed pipe is an ordinary write error).
#[cfg(not(unix))]
pub fn install() {}

/// SIGPIPE is raised synchronously on the thread whose write found no
/// reader. A pipe's write end with no reader left polls as POLLERR (a closed
/// socket as POLLHUP), which tells stdout and stderr apart from an HTTP
/// connection.
#[cfg(unix)]
extern "C" fn on_sigpipe(_: libc::c_int) {
    let mut fds = [1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of two pollfd; a zero timeout never blocks.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, 0) };
    if ready > 0
        && fds
            .iter()
            .any(|f| f.revents & (libc::POLLERR | libc::POLLHUP) != 0)
    {
        // SAFETY: _exit ends the process without running anything else.
        unsafe { libc::_exit(i32::from(crate::exit::CLOSED_OUTPUT)) };
    }
}
