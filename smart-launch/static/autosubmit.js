// Submits the authorize form of a POST-style SMART launch (Epic recommends POST for EHR launches).
document.getElementById("authorize").submit();
