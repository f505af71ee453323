"""A netcat-listener Sigma rule the triage page tests raise alerts with."""

NETCAT_RULE = """
title: Netcat listener
id: 7c0d6a83-58f4-4c1f-9a8e-0c1f3d0b7e11
status: test
level: high
logsource: {category: process_creation, product: linux}
detection:
  selection:
    Image|endswith: /nc
    CommandLine|contains: ' -l'
  condition: selection
"""
