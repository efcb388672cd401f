-- aula schema v3: live session facts for `aulactl session list`.
-- fps: frames per second the session process last reported.
-- connected_at: when the client last started looking at the desktop.
-- end_reason: why the session went to disconnected or logged_off.
ALTER TABLE sessions ADD COLUMN fps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN connected_at INTEGER;
ALTER TABLE sessions ADD COLUMN end_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_vm ON sessions(vm_id);
