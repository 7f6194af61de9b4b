//! membarrier(cmd, flags, cpu_id): memory barriers on the threads of this
//! process (the PRIVATE_EXPEDITED family) or of the whole sandbox
//! (GLOBAL, GLOBAL_EXPEDITED), with Linux's registrations, argument checks
//! and errnos.
//!
//! A barrier kicks every other thread that is running guest code on the
//! address spaces concerned and returns once each has left the guest at
//! least once ([`AddressSpace::barrier`]): leaving the guest is a full
//! memory barrier and serialises the core (what SYNC_CORE asks), and a
//! thread in the sentry makes no guest memory access. There are no rseq
//! critical sections to restart (rseq is ENOSYS), so the RSEQ commands are
//! plain barriers on registered processes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::errno::Errno;
use crate::kernel::task::{SysResult, TaskCtx};
use crate::mm::AddressSpace;

const QUERY: i32 = 0;
const GLOBAL: i32 = 1;
const GLOBAL_EXPEDITED: i32 = 1 << 1;
const REGISTER_GLOBAL_EXPEDITED: i32 = 1 << 2;
const PRIVATE_EXPEDITED: i32 = 1 << 3;
const REGISTER_PRIVATE_EXPEDITED: i32 = 1 << 4;
const PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 5;
const REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: i32 = 1 << 6;
const PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 7;
const REGISTER_PRIVATE_EXPEDITED_RSEQ: i32 = 1 << 8;
const GET_REGISTRATIONS: i32 = 1 << 9;
/// Every command but QUERY (bits 0 to 9): what QUERY answers.
const SUPPORTED: i32 = (GET_REGISTRATIONS << 1) - 1;
/// MEMBARRIER_CMD_FLAG_CPU (PRIVATE_EXPEDITED_RSEQ only).
const FLAG_CPU: u32 = 1;

/// membarrier(cmd, flags, cpu_id).
pub fn membarrier(t: &mut TaskCtx, cmd: i32, flags: u32, _cpu_id: i32) -> SysResult {
    let allowed_flags = if cmd == PRIVATE_EXPEDITED_RSEQ {
        FLAG_CPU
    } else {
        0
    };
    if flags & !allowed_flags != 0 {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    let registered = |bit: i32| mm.membarrier.load(Ordering::SeqCst) & bit as u32 != 0;
    let runner = t.task.runner.lock().clone();
    let me = runner.as_deref();
    match cmd {
        QUERY => Ok(SUPPORTED as u64),
        GLOBAL | GLOBAL_EXPEDITED => {
            // GLOBAL_EXPEDITED need only reach the registered processes,
            // GLOBAL every one: both reach every one here.
            for other in address_spaces(t) {
                other.barrier(me);
            }
            Ok(0)
        }
        REGISTER_GLOBAL_EXPEDITED
        | REGISTER_PRIVATE_EXPEDITED
        | REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
        | REGISTER_PRIVATE_EXPEDITED_RSEQ => {
            mm.membarrier.fetch_or(cmd as u32, Ordering::SeqCst);
            Ok(0)
        }
        PRIVATE_EXPEDITED | PRIVATE_EXPEDITED_SYNC_CORE | PRIVATE_EXPEDITED_RSEQ => {
            // Each command needs its own registration (the REGISTER bit is
            // the command's bit shifted left once).
            if !registered(cmd << 1) {
                return Err(Errno::EPERM.into());
            }
            mm.barrier(me);
            Ok(0)
        }
        GET_REGISTRATIONS => Ok(u64::from(mm.membarrier.load(Ordering::SeqCst))),
        _ => Err(Errno::EINVAL.into()),
    }
}

/// Every address space a live task of the sandbox runs on, once each.
fn address_spaces(t: &TaskCtx) -> Vec<Arc<AddressSpace>> {
    let tasks: Vec<_> = t.task.kernel.table.lock().tasks.values().cloned().collect();
    let mut out: Vec<Arc<AddressSpace>> = Vec::new();
    for task in tasks {
        let Some(mm) = task.mm.lock().clone() else {
            continue;
        };
        if !out.iter().any(|m| Arc::ptr_eq(m, &mm)) {
            out.push(mm);
        }
    }
    out
}
