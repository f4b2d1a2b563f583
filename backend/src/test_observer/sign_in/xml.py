"""Safe XML parsing and the SAML namespaces."""

from __future__ import annotations

from lxml import etree

NS = {
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
}


def parse_xml(document: bytes) -> etree._Element:
    # Documents come from the network: no DTDs, entities or network access while parsing.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    root = etree.fromstring(document, parser)
    if root.getroottree().docinfo.doctype:
        raise ValueError("documents with a DTD are refused")
    return root
