"""Custom actions of the Оттенок assistant (rasa-sdk). Thin classes over the `salesbot` modules."""
