"""Alert rules (YAML in ``alerts/rules/``), their evaluation, state, emergency plans and email.

Data flows one way: the engine reads marts (and ``meta`` for freshness and dbt results), keeps alert
state in the warehouse's own schema ``alerts`` and sends notifications through a channel.
"""
