"""Months of nights under production, stockpiles and money (`model.CampaignModel`)."""
