"""The Cisco Meeting Server provisioning dialect under /api/v1 (CMS API reference §3-4, §7,
§10.1, §10.4): HTTP Basic, form-encoded requests, text/xml answers."""
