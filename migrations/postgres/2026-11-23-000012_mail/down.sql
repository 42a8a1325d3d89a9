DROP TABLE outbox;
DROP TABLE entry_emails;
DROP TABLE mail_message_ids;
DROP TABLE inbound_mail;
