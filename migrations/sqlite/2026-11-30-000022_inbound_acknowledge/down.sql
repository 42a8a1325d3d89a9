ALTER TABLE inbound_mail DROP COLUMN acknowledge;
