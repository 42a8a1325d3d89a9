DROP TABLE chat_offline_digests;
