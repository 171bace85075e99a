"""The edges: IMAP and Maildir sources, SMTP and Maildir senders, the referral mail reader."""
