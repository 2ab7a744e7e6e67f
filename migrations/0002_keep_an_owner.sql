-- An organization always keeps at least one owner. Enforced here rather than only in code
-- so that two owners demoting each other at the same moment cannot both succeed (SQLite
-- serialises writes, and the check runs inside each write). Deleting the organization
-- itself (the parent row is gone by the time its members cascade) is allowed.
CREATE TRIGGER `org_members_keep_an_owner_on_update`
BEFORE UPDATE OF `role` ON `org_members`
WHEN OLD.`role` = 'owner' AND NEW.`role` <> 'owner'
  AND (SELECT count(*) FROM `org_members` WHERE `org_id` = OLD.`org_id` AND `role` = 'owner') <= 1
BEGIN
  SELECT RAISE(ABORT, 'last_owner');
END;
--> statement-breakpoint
CREATE TRIGGER `org_members_keep_an_owner_on_delete`
BEFORE DELETE ON `org_members`
WHEN OLD.`role` = 'owner'
  AND (SELECT count(*) FROM `org_members` WHERE `org_id` = OLD.`org_id` AND `role` = 'owner') <= 1
  AND EXISTS (SELECT 1 FROM `organizations` WHERE `id` = OLD.`org_id`)
BEGIN
  SELECT RAISE(ABORT, 'last_owner');
END;
