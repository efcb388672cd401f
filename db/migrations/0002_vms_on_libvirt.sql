-- aula schema v2: templates live in aula's libvirt storage pool, pools choose
-- their network, and VMs carry what the reconciler needs.

-- The imported disk: a volume in aula's storage pool (disk_path keeps where it
-- came from). Optional direct kernel boot, imported the same way.
ALTER TABLE templates ADD COLUMN volume TEXT NOT NULL DEFAULT '';
ALTER TABLE templates ADD COLUMN kernel_volume TEXT NOT NULL DEFAULT '';
ALTER TABLE templates ADD COLUMN initrd_volume TEXT NOT NULL DEFAULT '';
ALTER TABLE templates ADD COLUMN cmdline TEXT NOT NULL DEFAULT '';

-- "network:NAME" (a libvirt network) or "bridge:DEV", with an optional VLAN tag.
ALTER TABLE pools ADD COLUMN network TEXT NOT NULL DEFAULT 'network:default';
ALTER TABLE pools ADD COLUMN vlan INTEGER NOT NULL DEFAULT 0 CHECK (vlan BETWEEN 0 AND 4094);

-- seq: the n of aula-<pool>-<n>. volume: the VM's disk in aula's storage pool.
-- attempts/retry_at: back-off after an error. started_at: for uptime.
ALTER TABLE vms ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vms ADD COLUMN volume TEXT NOT NULL DEFAULT '';
ALTER TABLE vms ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vms ADD COLUMN retry_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vms ADD COLUMN started_at INTEGER;
CREATE UNIQUE INDEX vms_pool_seq ON vms(pool_id, seq);
CREATE INDEX vms_owner ON vms(owner_id);
