//! `/proc/sysvipc/{shm,sem,msg}`: one header line, then one line per
//! object in Linux's format (ipc/shm.c, sem.c and msg.c's
//! `sysvipc_*_proc_show`), in index order.

use super::{IPCMNI, Ipc, Perm};

fn id(perm: &Perm, index: i32) -> i32 {
    i32::from(perm.seq) * IPCMNI + index
}

/// `/proc/sysvipc/shm`.
pub fn shm(ipc: &Ipc) -> String {
    let mut s = String::from(
        "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n",
    );
    let segs = ipc.shm.segs.lock();
    for (&index, seg) in &segs.by_index {
        let p = &seg.perm;
        let rss = seg.store.page_count() as u64 * 4096;
        s.push_str(&format!(
            "{:10} {:10}  {:4o} {:21} {:5} {:5}  {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10} {:21} {:21}\n",
            p.key,
            id(p, index),
            p.mode,
            seg.size,
            seg.cpid,
            seg.lpid,
            seg.nattch(),
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            seg.atime,
            seg.dtime,
            seg.ctime,
            rss,
            0,
        ));
    }
    s
}

/// `/proc/sysvipc/sem`.
pub fn sem(ipc: &Ipc) -> String {
    let mut s = String::from(
        "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n",
    );
    let sets: Vec<_> = ipc
        .sem
        .sets
        .lock()
        .by_index
        .iter()
        .map(|(i, set)| (*i, std::sync::Arc::clone(set)))
        .collect();
    for (index, set) in sets {
        let st = set.state.lock();
        let p = &st.perm;
        s.push_str(&format!(
            "{:10} {:10}  {:4o} {:10} {:5} {:5} {:5} {:5} {:10} {:10}\n",
            p.key,
            id(p, index),
            p.mode,
            st.sems.len(),
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            st.otime,
            st.ctime,
        ));
    }
    s
}

/// `/proc/sysvipc/msg`.
pub fn msg(ipc: &Ipc) -> String {
    let mut s = String::from(
        "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n",
    );
    let queues: Vec<_> = ipc
        .msg
        .queues
        .lock()
        .by_index
        .iter()
        .map(|(i, q)| (*i, std::sync::Arc::clone(q)))
        .collect();
    for (index, q) in queues {
        let st = q.state.lock();
        let p = &st.perm;
        s.push_str(&format!(
            "{:10} {:10}  {:4o}  {:10} {:10} {:5} {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10}\n",
            p.key,
            id(p, index),
            p.mode,
            st.cbytes,
            st.msgs.len(),
            st.lspid,
            st.lrpid,
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            st.stime,
            st.rtime,
            st.ctime,
        ));
    }
    s
}
