//! MAP_SHARED memory objects: the pages every mapping of one object
//! shares, whatever address space and address maps them.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use platform::Platform;

use super::FaultError;

/// A MAP_SHARED memory object: its pages, by page index, each holding a
/// frame reference.
#[derive(Default)]
pub struct SharedMemory {
    machine: Option<Arc<dyn Platform>>,
    pages: Mutex<BTreeMap<u64, u64>>,
}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedMemory({} pages)", self.pages.lock().len())
    }
}

impl SharedMemory {
    pub(super) fn new(machine: Arc<dyn Platform>) -> Self {
        Self {
            machine: Some(machine),
            pages: Mutex::default(),
        }
    }

    /// The frame for page `index`, allocated on first use. The returned
    /// frame carries a new reference for the caller.
    pub(super) fn frame(&self, index: u64) -> Result<u64, FaultError> {
        let machine = self.machine.as_ref().ok_or(FaultError::Oom)?;
        let mut pages = self.pages.lock();
        let frame = match pages.get(&index) {
            Some(f) => *f,
            None => {
                let f = machine.alloc_data()?;
                pages.insert(index, f);
                f
            }
        };
        machine.frames().get(frame);
        Ok(frame)
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        if let Some(m) = &self.machine {
            for f in self.pages.get_mut().values() {
                m.frames().put_data(*f);
            }
        }
    }
}
