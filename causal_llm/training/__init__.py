"""Training: the plain loop (``loop``), what a job sees of where it runs (``context``), and the Ray
Train edge (``ray_edge``, ``ray_worker``). ``config`` holds the settings params.yaml maps onto."""
