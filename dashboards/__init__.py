"""The MedTower control tower: a multi-page Dash app on the published warehouse's marts."""
