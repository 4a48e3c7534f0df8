"""From the model to hosts: the file table, templates rendered, components, TLS, secrets, DKIM, DNS records, and pyinfra's steps."""
