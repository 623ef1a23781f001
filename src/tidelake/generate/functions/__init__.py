"""Function code the demo deploys through the Lambda API, written exactly as for AWS Lambda."""
