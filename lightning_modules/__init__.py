"""Everything that trains or samples. core/ (Method protocol, registries and plugins, model
roles, the shared refiner LightningModule, cost, seeding, training), nets/, continuous/ (FM),
discrete/ (DFM, text), drafters/, data/, metrics/ (with the evaluator nets), tracks/.

Imports neither `sweeps` nor `analysis`.
"""
