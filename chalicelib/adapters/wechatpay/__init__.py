"""WeChat Pay APIv3: request signing, the platform's signatures, AES-256-GCM (``crypto``), the HTTP client
(``client``) and the trade bill (``bill``)."""
