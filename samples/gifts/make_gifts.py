"""Writes users.jsonl and interactions.csv: ILLUSTRATIVE data, invented for the demo.

Each invented user likes gifts whose tags meet their hobbies (rating 4-5), sometimes rates a
random gift low (1-2); ages and relationships shift the odds a little. Deterministic (seed 0).
"""

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).parent
HOBBIES = ["cooking", "coffee", "running", "hiking", "camping", "tech", "music", "reading",
           "travel", "games", "yoga", "wellness", "gardening", "home", "painting", "crafts"]
RELATIONSHIPS = ["friend", "partner", "parent", "sibling", "colleague"]

rng = random.Random(0)
with open(HERE / "catalog.csv", newline="") as handle:
    gifts = list(csv.DictReader(handle))
users, rows = [], []
for n in range(1, 161):
    hobbies = rng.sample(HOBBIES, k=rng.choice([1, 2, 3]))
    age = rng.randint(16, 75)
    if age > 55 and rng.random() < 0.5:
        hobbies = sorted(set(hobbies) | {"gardening"})
    users.append({"id": f"p{n:03d}", "age": age, "relationship": rng.choice(RELATIONSHIPS),
                  "hobbies": hobbies})
    for gift in gifts:
        overlap = len(set(gift["tags"].split("|")) & set(hobbies))
        if overlap and rng.random() < 0.35 + 0.25 * overlap:
            rows.append((f"p{n:03d}", gift["id"], rng.choice([4, 5])))
        elif rng.random() < 0.04:
            rows.append((f"p{n:03d}", gift["id"], rng.choice([1, 2])))
with open(HERE / "users.jsonl", "w") as handle:
    for user in users:
        handle.write(json.dumps(user) + "\n")
with open(HERE / "interactions.csv", "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["user", "item", "rating"])
    writer.writerows(rows)
