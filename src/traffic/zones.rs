//! Blocks claimed outright: the release of a zone a robot asks to enter (see the module
//! note of `traffic`, "Zones").

use super::allocator::Allocator;
use super::waitfor::Tentative;
use super::{Blocker, TrafficError};

impl Allocator {
    /// Robot `robot` asks for a slot of block `block` before it enters (a 3.0 zone
    /// request). `Ok(None)`: granted (or held already) — the slot stays the robot's until
    /// [`release_block`](Self::release_block) or [`free`](Self::free); `Ok(Some(why))`: not
    /// now, the block is full or the claim would close a wait-for cycle; ask again.
    pub fn claim_block(
        &mut self,
        robot: &str,
        block: &str,
    ) -> Result<Option<Blocker>, TrafficError> {
        let r = self.robot_ix(robot)?;
        let b = self.map.block_ix(block)?;
        if self.robots[r].claims.contains(&b) {
            return Ok(None);
        }
        if !self.block_holders[b].contains(&r) {
            let holders = &self.block_holders[b];
            if holders.len() >= self.map.blocks[b].capacity {
                return Ok(Some(Blocker::BlockFull {
                    block: block.to_string(),
                    holders: self.names(holders),
                }));
            }
            let t = Tentative {
                robot: r,
                granted: self.robots[r].granted,
                nodes: Vec::new(),
                lanes: Vec::new(),
                blocks: vec![b],
                claim: true,
            };
            if let Some(cycle) = self.find_cycle(Some(&t)) {
                return Ok(Some(Blocker::WouldDeadlock(self.names(&cycle))));
            }
        }
        let claims = &mut self.robots[r].claims;
        claims.push(b);
        claims.sort_unstable();
        self.sync_blocks(r);
        Ok(None)
    }

    /// The robot gives back its claim on `block` (it left the zone, or no longer asks). It
    /// keeps a slot while its base still touches the block.
    pub fn release_block(&mut self, robot: &str, block: &str) -> Result<(), TrafficError> {
        let r = self.robot_ix(robot)?;
        let b = self.map.block_ix(block)?;
        self.robots[r].claims.retain(|&c| c != b);
        self.sync_blocks(r);
        self.touched(r);
        Ok(())
    }

    /// The blocks the robot has claimed outright, by name.
    pub fn claimed_blocks(&self, robot: &str) -> Vec<String> {
        self.robot_ix(robot)
            .map(|r| {
                self.robots[r]
                    .claims
                    .iter()
                    .map(|&b| self.map.blocks[b].id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
