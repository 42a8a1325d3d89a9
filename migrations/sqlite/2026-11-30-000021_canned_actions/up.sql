-- Canned responses that also change the case (macros): status, priority,
-- labels to add, as a JSON object.
ALTER TABLE canned_responses ADD COLUMN actions TEXT NOT NULL DEFAULT '{}';
