DROP TABLE mail_originals;
