//! futex(2): wait and wake on a guest word, keyed by the address space and
//! address (private futexes) — enough for thread exit (clear_child_tid)
//! and libc locks.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::kernel::task::{SysResult, TaskCtx};
use crate::kernel::wait::WaitQueue;
use crate::mm::AddressSpace;

type Key = (usize, u64);

fn queues() -> &'static Mutex<HashMap<Key, Arc<WaitQueue>>> {
    static Q: OnceLock<Mutex<HashMap<Key, Arc<WaitQueue>>>> = OnceLock::new();
    Q.get_or_init(Default::default)
}

fn key(mm: &Arc<AddressSpace>, addr: u64) -> Key {
    (Arc::as_ptr(mm) as usize, addr)
}

fn queue(k: Key) -> Arc<WaitQueue> {
    Arc::clone(queues().lock().entry(k).or_default())
}

/// Wakes waiters on `addr` (all of them; spurious wake-ups are allowed by
/// the futex contract). Returns how many queues were woken.
pub fn wake(_kernel: &Kernel, mm: &Arc<AddressSpace>, addr: u64, _n: u32) -> u64 {
    match queues().lock().get(&key(mm, addr)) {
        Some(q) => {
            q.notify_all();
            1
        }
        None => 0,
    }
}

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;

/// futex(uaddr, op, val, timeout, uaddr2, val3).
pub fn sys_futex(t: &mut TaskCtx, args: [u64; 6]) -> SysResult {
    let [uaddr, op, val, timeout, _uaddr2, val3] = args;
    if uaddr % 4 != 0 {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    match cmd {
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            if cmd == FUTEX_WAKE_BITSET && val3 == 0 {
                return Err(Errno::EINVAL.into());
            }
            Ok(wake(&t.task.kernel, &mm, uaddr, val as u32).min(val))
        }
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            if cmd == FUTEX_WAIT_BITSET && val3 == 0 {
                return Err(Errno::EINVAL.into());
            }
            let deadline = if timeout == 0 {
                None
            } else {
                let mut b = [0u8; 16];
                mm.read(timeout, &mut b)?;
                let sec = i64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
                let nsec = i64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
                if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
                    return Err(Errno::EINVAL.into());
                }
                let d = Duration::new(sec as u64, nsec as u32);
                if cmd == FUTEX_WAIT {
                    Some(Instant::now() + d)
                } else {
                    // Absolute: convert from the clock to Instant.
                    let now = crate::syscalls::time::clock_now(
                        if op & FUTEX_CLOCK_REALTIME != 0 { 0 } else { 1 },
                        &t.task.kernel,
                    );
                    Some(Instant::now() + d.saturating_sub(now))
                }
            };
            let q = queue(key(&mm, uaddr));
            let guard = q.prepare(&*t.task);
            if mm.read_u32(uaddr)? != val as u32 {
                return Err(Errno::EAGAIN.into());
            }
            match guard.sleep(deadline)? {
                true => Ok(0),
                false => Err(Errno::ETIMEDOUT.into()),
            }
        }
        _ => Err(Errno::ENOSYS.into()),
    }
}
